"""The conformance check: one module per rule family, gathered in `report.RULES`.

The rules are documented, by name, in docs/check.md."""
