"""Pipelines: what each /ai/* endpoint does between parsing a request and answering it.

A pipeline renders its prompts (`.md` templates in prompts/, loaded once per execution environment), picks each
call's model from the routing profile, reserves the request's worst-case cost (aiservice.access.metered), runs the
model calls concurrently within the invocation's deadline, and turns the replies into what the codeflash client
reads, through the code toolkit. Handlers call exactly one pipeline function; pipelines never speak HTTP.
"""
