"""The clinic side of a call: clinician-approved protocol packs and the conversation engine.

- `pack` loads and validates a pack (versioned YAML), `approval` records and checks the
  clinician's approval, `engine` runs one call's dialogue from the pack's content.
- Clinical sentences come from the pack verbatim with provenance "PACK@VERSION#ITEM".
"""
