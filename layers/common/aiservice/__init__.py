"""aiservice: the common layer of the codeflash AI service.

Import nothing here: handlers import exactly the modules they need, so that light paths (health,
authorizer) never pay for the LLM SDKs or libcst.
"""
