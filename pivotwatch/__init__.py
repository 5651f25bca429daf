"""The `pivotwatch` command: runs the stack on one machine, manages keys, seeds timelines."""
