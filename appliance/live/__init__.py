"""The calls in progress: the registry the call runner, the outbound call handlers and the pager
share (`appliance.live.registry`), and the brief a clinician hears before a warm transfer
connects a patient (`appliance.live.briefs`).

A call tells its entry what happens to it (`appliance.calls.CallObserver`): the registry never
stands between the voice session and the call's media. Below `scheduler` and `staff` in the
layers (docs/architecture.md): it imports only the seams and the record store's ids.
"""
