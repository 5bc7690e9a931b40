"""`kubiya-tui demo`: the whole system on one machine, in one command.

* ``command``: the command itself (signals, start-up and run phases, the headless wait);
* ``stack``: starting and stopping Temporal, the control plane, the runner and the load;
* ``queues``: the demo's queues and the load on each;
* ``console``: the console, imported in a thread meanwhile and run on the demo's connection;
* ``report``: what it prints.
"""

from kubiya_tui.stack.demo.command import DemoOptions, run_demo
from kubiya_tui.stack.demo.stack import Demo, DemoInfo

__all__ = ["Demo", "DemoInfo", "DemoOptions", "run_demo"]
