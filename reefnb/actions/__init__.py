"""A solution's JSON actions, used from other code (``reefnb.use``) and by ``reef serve``."""
