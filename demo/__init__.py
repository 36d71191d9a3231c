"""`make demo`: xray-guard end to end on the embedded local AWS (localaws). Nothing leaves this machine."""
