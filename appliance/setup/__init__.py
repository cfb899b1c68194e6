"""Installing a box at a clinic: provisioning from answers, the doctor's checks, the watchdog."""
