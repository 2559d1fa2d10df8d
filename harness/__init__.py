"""The HA live-migration lab: probe observer, guest image, lab handle and scenario steps."""
