"""Pure journey rules: the state machine, timers and KPIs. No I/O, no framework."""
