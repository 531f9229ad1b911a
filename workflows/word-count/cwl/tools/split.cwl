cwlVersion: v1.2
class: CommandLineTool
label: split a file into chunks of a few lines
baseCommand: split
arguments:
  - -d
  - { valueFrom: part-, position: 3 }
inputs:
  lines:
    type: int
    inputBinding: { prefix: -l, position: 1 }
  file:
    type: File
    inputBinding: { position: 2 }
outputs:
  parts:
    type: File[]
    outputBinding: { glob: part-* }
