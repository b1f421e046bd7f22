import Stages
print("blendset")
