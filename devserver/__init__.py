"""Local run of the SAM bundle without Docker: template parsing, DynamoDB (moto) and an API Gateway emulator.

Kept import-light: worker processes import `devserver.runtime` and nothing else from here.
"""
