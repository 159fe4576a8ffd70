"""The publisher Lambda handler."""
