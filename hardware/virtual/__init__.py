"""Virtual devices that emulate real hardware byte for byte on pseudo-terminals: a servo chain
(`servo_bus`, Dynamixel Protocol 2.0 / Feetech SCS-STS) and an slcan USB-CAN adapter with MIT
motors (`slcan`); `plant_servo` / `plant_can` put them on a real-time MuJoCo robot.

Import the module you need (nothing is re-exported here: the slcan adapter loads python-can,
which a servo or simulated deployment does not)."""
