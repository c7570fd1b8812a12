"""The national platform: enterprise feeds, the national index, 一证通查 and national analytics."""
