"""Robot / MotorBus / Camera interfaces and their backends (sim, servo buses, CAN motors).
Filled in by the hardware issue; the core never imports this package."""
