"""europanel: per-country WGS VCFs to a European reference variant panel."""

__version__ = "0.1.0"
