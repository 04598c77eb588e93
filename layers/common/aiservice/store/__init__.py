"""The only code that touches DynamoDB. Everything above it speaks in records and domain errors."""
