"""Finnhub live market data: ``feed`` (the websocket and REST threads, the latest prices) and
``market`` (the market source built on them). Both import finnhub-python and websockets."""
