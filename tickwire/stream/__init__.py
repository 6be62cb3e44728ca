"""The framework-free streaming core: protocol, hub, brokers, feeds. No Django imports."""
