"""Going live safely: the demo-pack gate (test calls only), the pack's approval status (doctor
and the console's banner), the staged pilot (which workflows and call types are live), the
supervised period (bookings and staff tasks held for staff review).

`policy` and `packstatus` are pure decision logic (no clock, no I/O: times come in as
arguments); `gate`, `pilot`, `store` and `supervised` apply them to calls and the record store.
"""
