"""The process: `serving.serve` wires every component in one nursery; the ``chat``
command (`cli`), several workers on one port (`workers`), the drain before a shutdown,
and the operators' commands (`user_commands`, `audit_command`, `backups`,
`copy_database`), which record what they change in the audit log (`operator_audit`)."""
