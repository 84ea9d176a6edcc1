print("gaussian-ad")
