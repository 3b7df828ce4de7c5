"""The subcommands of `europanel` (cli.py), grouped by where they run: each module registers
its subcommands' arguments and holds their handlers, which read the files, call the stage
code and write the outputs."""
