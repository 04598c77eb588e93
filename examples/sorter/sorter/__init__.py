"""A small package with one slow function and one slow method, for codeflash to optimize."""
