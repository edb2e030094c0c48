"""The test suite's tooling: Redis topologies and fault injection (not part of the product).

The product's own embedded server is `dashboard.embedded`; everything here builds on it.
"""
