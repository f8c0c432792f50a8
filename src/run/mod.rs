//! Executes a plan with pytest + pytest-xdist through the embedded plugin.
