"""skpoison: hyperparameter learning and optimal data poisoning."""
