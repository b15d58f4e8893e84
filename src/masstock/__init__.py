"""masstock: stock reservations that hold one device for one dealer's customer."""
