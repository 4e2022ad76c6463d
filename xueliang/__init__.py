"""Xueliang's composition root: the command line and the process launcher, which wire models/, integrations/,
flows/ and ui/ together. It is the only package allowed to import every layer (see README, "Architecture")."""
