"""The guest's probe seen from the host: heartbeats, the observer, the timeline, the disk's records."""
