"""What runs in a window: the moves, one module per fault (faults/) and per control (controls/)."""
