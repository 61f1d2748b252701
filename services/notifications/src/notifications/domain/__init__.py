"""Pure rules of the notifications service: who is told what, on which channel, and when. No I/O."""
