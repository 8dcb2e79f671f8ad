"""Parsers shared by datasets of one annotation family (folder-per-class, VOC XML, VQA JSON, ...)."""
