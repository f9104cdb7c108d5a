"""Market simulation for local clusters: price paths and a price-walking trader."""

from .market import ConstantProductPool, Fill, Market, MarketSimulator, PricePublisher
from .paths import PricePath, Regime, gbm, load_csv, regime_switching, shipped_series

__all__ = [
    "ConstantProductPool",
    "Fill",
    "Market",
    "MarketSimulator",
    "PricePath",
    "PricePublisher",
    "Regime",
    "gbm",
    "load_csv",
    "regime_switching",
    "shipped_series",
]
