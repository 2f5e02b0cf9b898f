"""The experiment: `sgns.run.train.run` builds what a config describes and trains it, with the
one `auto` policy (auto.py), resume, DDP, run folders, run info, the console, sweep summaries
and the launchers' glue. The only layer that reads a config; everything below takes plain
numbers and strings."""
