"""The SLA contract: versions, signatures, commitments, business calendar, clocks."""
