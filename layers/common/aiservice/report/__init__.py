"""The daily LLM cost report: per user, org, model and call type, what a successful optimization costs, what
prompt caching saved, and what drifts. `compute` is pure arithmetic, `render` the files, `run` the I/O
(stores, S3, SNS, metrics); `python -m aiservice.report` is the command line."""
