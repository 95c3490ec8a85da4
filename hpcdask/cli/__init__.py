"""The ``hpcdask`` command: parse arguments, call the library, render the answer."""
