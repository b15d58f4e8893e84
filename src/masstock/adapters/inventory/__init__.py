"""The carrier's logistics stock system, behind the device directory port."""

from masstock.adapters.inventory.directory import (
    HttpDeviceDirectory,
    InventoryConfig,
    RoutedDeviceDirectory,
)

__all__ = ["HttpDeviceDirectory", "InventoryConfig", "RoutedDeviceDirectory"]
