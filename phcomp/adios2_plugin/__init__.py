"""The compiled ADIOS2 plugin operator (libphcomp_adios2.so); `import phcomp` puts this
directory on ADIOS2_PLUGIN_PATH (phcomp/adios2.py)."""
