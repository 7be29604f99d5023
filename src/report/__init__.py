"""Reporting: figures, runs compared with each other and with the published numbers, the run
record the pipeline keeps (`record`), the results as one page (`html`) and a headless Chromium
driver to check that page (`browser`)."""
