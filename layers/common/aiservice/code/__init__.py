"""The code toolkit: what turns a model's raw text into code the codeflash client can run.

Pure logic over strings (markdown, XML sections, syntax checks, libcst post-processing); no I/O, no SDKs.
"""
