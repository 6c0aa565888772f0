"""The fault campaign behind `make faults` (docs/RELIABILITY.md): a real stack, real recstore
processes, a steady stream of signed uploads and Twilio callbacks, and outages injected into
it; then every promise about what was stored is checked."""
