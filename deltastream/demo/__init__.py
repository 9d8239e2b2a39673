"""For trying it out: the sample CSV files (``sampledata``) and the whole pipeline in one command
(``python -m deltastream.demo``). May import everything; nothing imports it but the tests and
the benchmark.
"""
