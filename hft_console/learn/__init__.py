"""Training and evaluation only: the vectorised JAX routing environment, the DQN/PPO training loops,
the latency forecaster's pretraining, and the evaluation of every router on paired worlds. Imported by
the ``train``/``evaluate`` commands, benchmarks and tests; live routing never imports it (the models
it trains are ``routing/models``)."""
