"""Learning routers' JAX side: the vectorised routing environment, agents, training, evaluation."""
