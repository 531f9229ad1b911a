cwlVersion: v1.2
class: CommandLineTool
label: sort the lines of files together
baseCommand: sort
inputs:
  files:
    type: File[]
    inputBinding: { position: 1 }
outputs:
  sorted: stdout
stdout: sorted.txt
