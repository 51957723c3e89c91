"""How deliver reaches a machine: the Remote seam (remote.py), one SSH connection (ssh.py,
opened by connect.py), this machine without SSH (local.py), and many hosts at once (fanout.py)."""
