"""Everything only the demo uses: synthetic data, a demo Sei, a tiny DNABERT-2 and the steps that
write them. No module outside this package imports it."""
